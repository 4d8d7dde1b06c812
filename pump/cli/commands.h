/* The verbs of the `xmlbus` command. Each takes the arguments after
 * `xmlbus` (argv[0] is the verb name), prints its own usage for --help and
 * after a bad command line, and returns the process exit code
 * (XB_EXIT_* in cli_common.h; the table is in docs/cli.md). */
#ifndef XMLBUS_CLI_COMMANDS_H
#define XMLBUS_CLI_COMMANDS_H

#ifndef XMLBUS_VERSION
#define XMLBUS_VERSION "0.1.0"
#endif

int xb_cmd_run(int argc, char **argv);      /* cmd_run.c: run the pump of an organism */
int xb_cmd_ping(int argc, char **argv);     /* cmd_run.c: is the pump answering? */
int xb_cmd_stop(int argc, char **argv);     /* cmd_run.c: ask the pump to shut down */
int xb_cmd_send(int argc, char **argv);     /* cmd_send.c: inject a message */
int xb_cmd_threads(int argc, char **argv);  /* cmd_threads.c: list the threads */
int xb_cmd_history(int argc, char **argv);  /* cmd_history.c: the slots of a thread */
int xb_cmd_memory(int argc, char **argv);   /* cmd_memory.c: a conversation's working memory */
int xb_cmd_stats(int argc, char **argv);    /* cmd_stats.c: per-listener counters */
int xb_cmd_backend(int argc, char **argv);  /* cmd_backend.c: backend info */
int xb_cmd_check(int argc, char **argv);    /* cmd_check.c: validate an organism */
int xb_cmd_envelope(int argc, char **argv); /* cmd_envelope.c: build/inspect envelopes */
int xb_cmd_dead(int argc, char **argv);     /* cmd_dead.c: the journal's dead letters */
int xb_cmd_keygen(int argc, char **argv);   /* cmd_keygen.c: a CURVE keypair's files */

#endif
