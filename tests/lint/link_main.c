/* The program of each module's link check (tests/lint/CMakeLists.txt): it
 * does nothing; what matters is that the module's whole library links with
 * only the libraries the module declares. */
int main(void)
{
    return 0;
}
