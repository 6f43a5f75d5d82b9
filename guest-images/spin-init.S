/* /init for hosts where guest user space cannot run (PVM: the first system call faults).
 * It makes no system call and only spins, so the kernel stays up and its own network
 * stack (ip= DHCP, ARP, ICMP echo) can be tested from the host. */
    .globl _start
_start:
1:  pause
    jmp 1b
