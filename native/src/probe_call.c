/*
 * probe_call.c: the four raw process-creating calls of the probe.
 *
 * The created child must do nothing but exit, and must do it without touching memory: its stack pointer
 * may be a bogus address from the request (clone3 stack/stack_size, legacy newsp), it may share the
 * caller's memory and stack (CLONE_VM, with or without CLONE_VFORK), and its FS base may be a bogus
 * CLONE_SETTLS value. So the system call and the child's path live in one asm block: when rax is 0 after
 * the `syscall` we are the child and immediately make SYS_exit(0) (60), which ends a single-threaded
 * process, or just the thread for CLONE_THREAD. The child never returns into C.
 *
 * The caller's path continues at label 1 with the raw result (pid > 0, or -errno). The kernel clobbers rcx
 * and r11; "memory" because the kernel writes pidfd/parent_tid/child_tid buffers behind the compiler's back.
 * noinline keeps each call a single, auditable function in the disassembly.
 */
#include "probe_internal.h"

#define FL_CHILD_EXIT_PATH                                                                                    \
    "test %%rax, %%rax\n\t"                                                                                  \
    "jnz 1f\n\t"                                                                                             \
    "mov $60, %%eax\n\t" /* SYS_exit */                                                                     \
    "xor %%edi, %%edi\n\t"                                                                                   \
    "syscall\n\t"                                                                                            \
    "ud2\n"              /* not reached */                                                                  \
    "1:\n\t"

/* clone3(struct clone_args *uargs = rdi, size_t size = rsi): syscall 435. */
__attribute__((noinline)) long fl_call_clone3(void *args, uint64_t size)
{
    long ret;
    __asm__ volatile("syscall\n\t" FL_CHILD_EXIT_PATH
                     : "=a"(ret)
                     : "0"((long)__NR_clone3), "D"(args), "S"(size)
                     : "rcx", "r11", "memory");
    return ret;
}

/* clone(flags = rdi, newsp = rsi, parent_tid = rdx, child_tid = r10, tls = r8): syscall 56, x86-64 order. */
__attribute__((noinline)) long fl_call_clone(uint64_t flags, uint64_t newsp, uint64_t parent_tid, uint64_t child_tid,
                                             uint64_t tls)
{
    register uint64_t r10 __asm__("r10") = child_tid;
    register uint64_t r8 __asm__("r8") = tls;
    long ret;
    __asm__ volatile("syscall\n\t" FL_CHILD_EXIT_PATH
                     : "=a"(ret)
                     : "0"((long)__NR_clone), "D"(flags), "S"(newsp), "d"(parent_tid), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

/* fork(): syscall 57. */
__attribute__((noinline)) long fl_call_fork(void)
{
    long ret;
    __asm__ volatile("syscall\n\t" FL_CHILD_EXIT_PATH
                     : "=a"(ret)
                     : "0"((long)__NR_fork)
                     : "rcx", "r11", "memory");
    return ret;
}

/* vfork(): syscall 58. The caller is suspended until the child has exited. */
__attribute__((noinline)) long fl_call_vfork(void)
{
    long ret;
    __asm__ volatile("syscall\n\t" FL_CHILD_EXIT_PATH
                     : "=a"(ret)
                     : "0"((long)__NR_vfork)
                     : "rcx", "r11", "memory");
    return ret;
}
