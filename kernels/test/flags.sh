# g++ flags of the kernel-check builds (run.sh, tools/mutate_kernels.sh), sourced by both so the
# mutation check tests exactly what the kernel checks build. Bash array EMU_CXXFLAGS:
#   -fsanitize=bounds -fno-sanitize-recover=bounds
#       every index into an array of known size (register arrays such as `float acc[4][4]`, static
#       shared arrays such as `As[GEMM_BK][...]`, struct members such as DsDims::dims) is checked;
#       an overrun prints the kernel's file:line and aborts. A GPU would read a neighbouring register
#       or shared word silently; here it fails the check.
#   -ftrivial-auto-var-init=pattern
#       locals the kernel never initialises start as 0xFE.. bytes (a huge negative float), not as
#       whatever the stack held, so a skipped initialisation changes results like garbage registers do.
EMU_CXXFLAGS=(-std=c++20 -O2 -pthread -Wno-unknown-pragmas
              -fsanitize=bounds -fno-sanitize-recover=bounds -ftrivial-auto-var-init=pattern)
