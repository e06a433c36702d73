/* mainexits: its main thread ends at once (pthread_exit) while a second
 * thread lives on until standard input closes. The process then shows as a
 * zombie in /proc/PID/stat although it is still running. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *worker(void *arg) {
	char b[64];
	(void)arg;
	while (read(0, b, sizeof b) > 0) {
	}
	return NULL;
}

int main(void) {
	pthread_t t;
	if (pthread_create(&t, NULL, worker, NULL) != 0) {
		return 2;
	}
	printf("up\n");
	fflush(stdout);
	pthread_exit(NULL);
}
