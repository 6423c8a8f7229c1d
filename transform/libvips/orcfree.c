// libvips 8.14 compiles its orc programs under its own global lock, and orc
// allocates their code under orc's global mutex, but libvips frees a
// program (vips_vector_free -> orc_program_free -> orc_code_free) holding
// neither, and orc 0.4.33 returns the code's chunk to the allocator shared by
// every program without a lock: two renders dropping reduces at once merged
// one chunk twice. A chaos run's core file showed "double free or corruption
// (out)" in orc_code_free under an operation's dispose; the same corruption
// showed as malloc_consolidate aborts and images freed under their owners.
//
// libvips calls orc_program_free through its PLT, so this executable's
// definition is the one bound: it frees the program under orc's own global
// mutex, the lock the allocation takes. orc takes no lock inside the free,
// so the mutex is never held twice; libvips never holds orc's mutex, so the
// two locks are always taken in the same order (libvips' lock, then orc's).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

typedef void (*orc_fn)(void);
typedef void (*orc_free_fn)(void *);

static orc_free_fn real_program_free;
static orc_fn mutex_lock;
static orc_fn mutex_unlock;
static pthread_once_t resolved = PTHREAD_ONCE_INIT;

static void resolve(void) {
	real_program_free = (orc_free_fn)dlsym(RTLD_NEXT, "orc_program_free");
	mutex_lock = (orc_fn)dlsym(RTLD_DEFAULT, "orc_global_mutex_lock");
	mutex_unlock = (orc_fn)dlsym(RTLD_DEFAULT, "orc_global_mutex_unlock");
}

void orc_program_free(void *program) {
	pthread_once(&resolved, resolve);
	mutex_lock();
	real_program_free(program);
	mutex_unlock();
}

// orc_frees_serialised reports whether libvips binds the definition above
// and it found orc's own free and mutex: only then may orc's loops run.
int orc_frees_serialised(void) {
	pthread_once(&resolved, resolve);
	return dlsym(RTLD_DEFAULT, "orc_program_free") == (void *)orc_program_free &&
	       real_program_free != NULL && mutex_lock != NULL && mutex_unlock != NULL;
}
