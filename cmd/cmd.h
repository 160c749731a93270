/* cmd.h - the verbs of the `augur` command line, one file each under cmd/. */
#ifndef AUGUR_CMD_H
#define AUGUR_CMD_H

/* Exit statuses shared by every verb. */
enum {
    CMD_EXIT_OK = 0,
    CMD_EXIT_FAIL = 1,  /* the operation failed; "not found" among others */
    CMD_EXIT_USAGE = 2, /* bad command line or configuration */
};

struct aug_config;
/* `augur status [--json]`: argv[0] is "status"; asks the admin endpoint of cfg. */
int cmd_status_main(const struct aug_config *cfg, int argc, char **argv);

/* `augur trace ...`: argv[0] is "trace". Returns an exit status. */
int cmd_trace_main(int argc, char **argv);

/* `augur mount [MOUNTPOINT] [-c CONF] [-o OPTIONS] [-f] [--log FILE]`: argv[0] is "mount".
 * Returns once the mount is ready (a child process serves it), or serves it in the foreground
 * with -f. The configuration is -c, else $AUGUR_CONF, else /etc/augur/augur.conf. */
int cmd_mount_main(int argc, char **argv);
/* `augur umount [-l] MOUNTPOINT`: argv[0] is "umount". Unmounts, then waits until the
 * mount's process has uploaded its staged writes and exited. */
int cmd_umount_main(int argc, char **argv);

#endif
