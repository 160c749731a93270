/* cmd.h - the verbs of the `augur` command line, one file each under cmd/. */
#ifndef AUGUR_CMD_H
#define AUGUR_CMD_H

/* Exit statuses shared by every verb. */
enum {
    CMD_EXIT_OK = 0,
    CMD_EXIT_FAIL = 1,  /* the operation failed; "not found" among others */
    CMD_EXIT_USAGE = 2, /* bad command line or configuration */
};

/* `augur trace ...`: argv[0] is "trace". Returns an exit status. */
int cmd_trace_main(int argc, char **argv);

#endif
