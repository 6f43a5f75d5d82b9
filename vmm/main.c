/* nicvm: parse the command line, prepare the machine, create it under KVM, run it, and
 * exit with the documented status (see --help). */
#include "vmm/board.h"
#include "vmm/cli.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>

#ifndef NICVM_VERSION
#define NICVM_VERSION "0.1.0"
#endif

int main(int argc, char **argv)
{
    struct nicvm_config cfg;
    char err[512] = "";
    if (cli_parse(argc, argv, &cfg, err, sizeof(err)) < 0) {
        log_err("%s", err);
        cli_free(&cfg);
        return NICVM_EXIT_USAGE;
    }
    if (cfg.device_help) {
        board_print_models(stdout);
        cli_free(&cfg);
        return NICVM_EXIT_OK;
    }
    if (cfg.help || cfg.version) {
        fputs(cfg.help ? cli_usage() : "nicvm " NICVM_VERSION "\n", stdout);
        cli_free(&cfg);
        return NICVM_EXIT_OK;
    }
    if (cfg.quiet)
        log_set_level(LOG_WARN);

    static struct vm vm; /* large; lives for the whole process */
    int status;
    if (vm_prepare(&vm, &cfg, err, sizeof(err)) < 0) {
        log_err("%s", err);
        status = NICVM_EXIT_USAGE;
    } else if (vm_create(&vm, err, sizeof(err)) < 0) {
        log_err("%s", err[0] ? err : "VM creation failed");
        status = NICVM_EXIT_HOST;
    } else {
        status = vm_run(&vm);
    }
    vm_destroy(&vm);
    cli_free(&cfg);
    return status;
}
