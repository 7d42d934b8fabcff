/*
 * The one process of a pod sandbox: holds the pod's namespaces open until it is told to stop.
 *
 * - SIGTERM / SIGINT: exit 0.
 * - SIGCHLD: collect every exited child (as PID 1 of a shared PID namespace it inherits orphans).
 * - Otherwise it sleeps in pause(2), forever.
 *
 * Built by hack/node-images.sh with `gcc -Os -static` and stripped.
 * `pause -v` prints the version and exits.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PAUSE_VERSION
#define PAUSE_VERSION "k8swift"
#endif

static void say(const char *text) {
    size_t left = strlen(text);
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, text, left);
        if (n <= 0) {
            return;
        }
        text += n;
        left -= (size_t)n;
    }
}

static void on_stop(int signo) {
    (void)signo;
    _exit(0);
}

static void on_child(int signo) {
    (void)signo;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static int handle(int signo, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(signo, &sa, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        say("pause " PAUSE_VERSION "\n");
        return 0;
    }
    if (getpid() != 1) {
        say("pause: not running as PID 1; orphans of this namespace are not mine to reap\n");
    }
    if (handle(SIGTERM, on_stop, 0) != 0 || handle(SIGINT, on_stop, 0) != 0 ||
        handle(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) != 0) {
        say("pause: sigaction failed\n");
        return 1;
    }
    for (;;) {
        pause();
    }
}
