/* Placeholder: the monitor unit tests are being written. */
int main(void)
{
    return 0;
}
