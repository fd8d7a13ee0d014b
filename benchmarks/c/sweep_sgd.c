/*
 * sweep_sgd.c -- vectorised C reference for a learning-rate sweep.
 *
 * K copies of the worked-example 2-3-1 network (same initial parameters,
 * same sample x = [0.5, 0.8], y = 1), net k trained with SGD at learning
 * rate lr[k] for STEPS steps with the hand-derived gradients.  Parameters are
 * stored structure-of-arrays, net index innermost and contiguous, so the
 * inner loop over nets vectorises.  The nets are processed in cache-sized
 * blocks (all steps for one block, then the next block), which is legal
 * because the nets are independent and keeps the working set in L1.
 *
 * exp() is declared with `simd` so GCC can call glibc's libmvec vector exp
 * (<= 4 ulp) instead of the scalar libm routine.  GCC only vectorises a loop
 * calling exp() when it may ignore errno, hence -fno-math-errno (it changes
 * no results; -ffast-math is NOT used, so the arithmetic stays IEEE).
 * Define SCALAR_EXP to get the plain libm call (the loop then stays scalar,
 * about 3.5x slower in float64).
 *
 * Build:   gcc -O3 -march=native -fno-math-errno -DREAL=double \
 *              sweep_sgd.c -o sweep_f64 -lm
 * With -fopenmp the blocks are shared among OMP_NUM_THREADS threads.
 * Run:     ./sweep_f64 K STEPS REPEATS LR_FILE OUT_FILE
 *   LR_FILE: K float64 learning rates (raw little-endian binary).
 *   OUT_FILE: final parameters as float64, 13 rows of K
 *             (W1[0][0], W1[0][1], W1[1][0], ..., b1[0..2], W2[0..2], b2).
 * Prints one JSON object: per-repeat loop times in ns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef REAL
#define REAL double
#endif
#ifndef BLOCK
#define BLOCK 128
#endif

#ifndef SCALAR_EXP
/* Let GCC use libmvec's vector variants of exp/expf (glibc >= 2.22). */
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) float expf(float);
#endif

#define NPARAM 13
enum { W1_00, W1_01, W1_10, W1_11, W1_20, W1_21, B1_0, B1_1, B1_2, W2_0, W2_1, W2_2, B2 };

static const double INIT[NPARAM] = {0.2, -0.3, 0.4, 0.1, -0.5, 0.2, 0.1, -0.2, 0.1, 0.3, -0.4, 0.5, 0.1};

static inline REAL real_exp(REAL v) {
    return sizeof(REAL) == sizeof(float) ? (REAL)expf((float)v) : (REAL)exp((double)v);
}

/* One block of nets: row i holds parameter i of BLOCK consecutive nets. */
typedef struct {
    REAL p[NPARAM][BLOCK];
    REAL lr[BLOCK];
} Block;

/* STEPS SGD steps for the first n nets of one block. */
static void train_block(Block *restrict b, int n, long steps) {
    const REAL x0 = 0.5, x1 = 0.8, y = 1;
    REAL (*restrict p)[BLOCK] = b->p;
    const REAL *restrict lr = b->lr;
    for (long s = 0; s < steps; ++s) {
        for (int k = 0; k < n; ++k) {
            REAL z10 = p[W1_00][k] * x0 + p[W1_01][k] * x1 + p[B1_0][k];
            REAL z11 = p[W1_10][k] * x0 + p[W1_11][k] * x1 + p[B1_1][k];
            REAL z12 = p[W1_20][k] * x0 + p[W1_21][k] * x1 + p[B1_2][k];
            REAL a10 = z10 > 0 ? z10 : 0, a11 = z11 > 0 ? z11 : 0, a12 = z12 > 0 ? z12 : 0;
            REAL z2 = p[W2_0][k] * a10 + p[W2_1][k] * a11 + p[W2_2][k] * a12 + p[B2][k];
            REAL dz2 = 1 / (1 + real_exp(-z2)) - y;
            REAL g = lr[k] * dz2;
            REAL d0 = z10 > 0 ? p[W2_0][k] * g : 0;
            REAL d1 = z11 > 0 ? p[W2_1][k] * g : 0;
            REAL d2 = z12 > 0 ? p[W2_2][k] * g : 0;
            p[W2_0][k] -= g * a10;
            p[W2_1][k] -= g * a11;
            p[W2_2][k] -= g * a12;
            p[B2][k] -= g;
            p[W1_00][k] -= d0 * x0; p[W1_01][k] -= d0 * x1; p[B1_0][k] -= d0;
            p[W1_10][k] -= d1 * x0; p[W1_11][k] -= d1 * x1; p[B1_1][k] -= d1;
            p[W1_20][k] -= d2 * x0; p[W1_21][k] -= d2 * x1; p[B1_2][k] -= d2;
        }
    }
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s K STEPS REPEATS LR_FILE OUT_FILE\n", argv[0]);
        return 2;
    }
    int K = atoi(argv[1]);
    long steps = atol(argv[2]);
    int repeats = atoi(argv[3]);
    int nblocks = (K + BLOCK - 1) / BLOCK;
    double *lr64 = malloc(sizeof(double) * K);
    Block *blocks = aligned_alloc(64, sizeof(Block) * nblocks);
    FILE *f = fopen(argv[4], "rb");
    if (!lr64 || !blocks || !f || fread(lr64, sizeof(double), K, f) != (size_t)K) {
        fprintf(stderr, "cannot read %d learning rates from %s\n", K, argv[4]);
        return 1;
    }
    fclose(f);
    memset(blocks, 0, sizeof(Block) * nblocks);
    for (int k = 0; k < K; ++k) blocks[k / BLOCK].lr[k % BLOCK] = (REAL)lr64[k];

    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("{\"dtype\": \"%s\", \"K\": %d, \"steps\": %ld, \"block\": %d, \"threads\": %d, \"loop_ns\": [",
           sizeof(REAL) == sizeof(float) ? "float32" : "float64", K, steps, BLOCK, threads);
    for (int r = 0; r < repeats; ++r) {
        for (int k = 0; k < K; ++k)
            for (int i = 0; i < NPARAM; ++i) blocks[k / BLOCK].p[i][k % BLOCK] = (REAL)INIT[i];
        long long t0 = now_ns();
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int bi = 0; bi < nblocks; ++bi) {
            int n = K - bi * BLOCK < BLOCK ? K - bi * BLOCK : BLOCK;
            train_block(&blocks[bi], n, steps);
        }
        long long t1 = now_ns();
        printf("%s%lld", r ? ", " : "", t1 - t0);
    }
    printf("]}\n");

    f = fopen(argv[5], "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", argv[5]);
        return 1;
    }
    for (int i = 0; i < NPARAM; ++i)
        for (int k = 0; k < K; ++k) {
            double v = (double)blocks[k / BLOCK].p[i][k % BLOCK];
            fwrite(&v, sizeof(double), 1, f);
        }
    fclose(f);
    free(blocks);
    free(lr64);
    return 0;
}
