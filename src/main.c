/* main.c - cairn, a plugin-based backup tool. */
#include "autoconf.h"

#include "cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
