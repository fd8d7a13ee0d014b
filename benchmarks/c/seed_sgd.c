/*
 * seed_sgd.c -- C reference loop for the jaxnet worked example.
 *
 * A 2-3-1 network (ReLU hidden, sigmoid output) trained on one sample
 * x = [0.5, 0.8], y = 1 with binary cross-entropy and plain SGD (lr 0.1),
 * starting from the worked-example parameters.  The backward pass is the
 * hand-derived one:
 *   dz2 = sigmoid(z2) - y;  dW2 = dz2 a1;  db2 = dz2;
 *   dz1 = (W2^T dz2) * (z1 > 0);  dW1 = dz1 x^T;  db1 = dz1.
 *
 * Build:   cc -O2 -DREAL=double seed_sgd.c -o seed_sgd_f64 -lm
 *          cc -O2 -DREAL=float  seed_sgd.c -o seed_sgd_f32 -lm
 * Run:     ./seed_sgd_f64 STEPS [REPEATS]
 *
 * Every repeat restarts from the initial parameters and times the training
 * loop alone with clock_gettime(CLOCK_MONOTONIC).  Output is one JSON object
 * on stdout: per-repeat loop times (ns), the final parameters and the loss
 * at the final parameters (softplus(z2) - y z2, computed in REAL).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef REAL
#define REAL double
#endif

typedef struct {
    REAL W1[3][2], b1[3], W2[3], b2;
} Params;

static const Params INIT = {
    {{0.2, -0.3}, {0.4, 0.1}, {-0.5, 0.2}},
    {0.1, -0.2, 0.1},
    {0.3, -0.4, 0.5},
    0.1,
};

static REAL real_exp(REAL v) { return sizeof(REAL) == sizeof(float) ? expf(v) : exp(v); }
static REAL real_log1p(REAL v) { return sizeof(REAL) == sizeof(float) ? log1pf(v) : log1p(v); }

/* Output pre-activation z2 for input x; also returns z1 through the pointer. */
static REAL forward(const Params *p, const REAL x[2], REAL z1[3]) {
    REAL z2 = p->b2;
    for (int j = 0; j < 3; ++j) {
        z1[j] = p->W1[j][0] * x[0] + p->W1[j][1] * x[1] + p->b1[j];
        z2 += p->W2[j] * (z1[j] > 0 ? z1[j] : (REAL)0);
    }
    return z2;
}

/* One SGD step with the hand-derived gradients. */
static void sgd_step(Params *p, const REAL x[2], REAL y, REAL lr) {
    REAL z1[3];
    REAL z2 = forward(p, x, z1);
    REAL dz2 = (REAL)1 / ((REAL)1 + real_exp(-z2)) - y;
    for (int j = 0; j < 3; ++j) {
        REAL a1 = z1[j] > 0 ? z1[j] : (REAL)0;
        REAL dz1 = z1[j] > 0 ? p->W2[j] * dz2 : (REAL)0;
        p->W2[j] -= lr * (dz2 * a1);
        p->W1[j][0] -= lr * (dz1 * x[0]);
        p->W1[j][1] -= lr * (dz1 * x[1]);
        p->b1[j] -= lr * dz1;
    }
    p->b2 -= lr * dz2;
}

/* Binary cross-entropy from logits: softplus(z2) - y z2, numerically stable. */
static REAL loss(const Params *p, const REAL x[2], REAL y) {
    REAL z1[3];
    REAL z2 = forward(p, x, z1);
    REAL sp = (z2 > 0 ? z2 : (REAL)0) + real_log1p(real_exp(-fabs((double)z2)));
    return sp - y * z2;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s STEPS [REPEATS]\n", argv[0]);
        return 2;
    }
    long steps = atol(argv[1]);
    int repeats = argc > 2 ? atoi(argv[2]) : 1;
    const REAL x[2] = {0.5, 0.8};
    const REAL y = 1, lr = 0.1;
    Params p;

    printf("{\"dtype\": \"%s\", \"steps\": %ld, \"loop_ns\": [",
           sizeof(REAL) == sizeof(float) ? "float32" : "float64", steps);
    for (int r = 0; r < repeats; ++r) {
        /* volatile copy so the compiler cannot hoist work out of the timed region */
        volatile REAL lr_v = lr;
        REAL lr_r = lr_v;
        p = INIT;
        long long t0 = now_ns();
        for (long s = 0; s < steps; ++s) sgd_step(&p, x, y, lr_r);
        long long t1 = now_ns();
        printf("%s%lld", r ? ", " : "", t1 - t0);
    }
    printf("], \"W1\": [");
    for (int j = 0; j < 3; ++j)
        printf("%s[%.17g, %.17g]", j ? ", " : "", (double)p.W1[j][0], (double)p.W1[j][1]);
    printf("], \"b1\": [%.17g, %.17g, %.17g]", (double)p.b1[0], (double)p.b1[1], (double)p.b1[2]);
    printf(", \"W2\": [[%.17g, %.17g, %.17g]]", (double)p.W2[0], (double)p.W2[1], (double)p.W2[2]);
    printf(", \"b2\": [%.17g], \"loss\": %.17g}\n", (double)p.b2, (double)loss(&p, x, y));
    return 0;
}
