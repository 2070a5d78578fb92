/* cli.h - the cairn command line. */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

/* Run cairn with these arguments; returns the exit code (enum cairn_exit). */
int cli_main(int argc, char **argv);

#endif
