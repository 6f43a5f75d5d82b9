/* Placeholder: the monitor kvm test is being written. */
int main(void)
{
    return 77;
}
