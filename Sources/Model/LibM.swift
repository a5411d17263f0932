// `Float.squareRoot()` and `Double.rounded()` may lower to libm calls (`sqrtf`, `round`). Importing the
// platform C module here makes the `Model` module autolink libm on its own, so an executable that links only
// `Model` (without Foundation) still links. No other C API is used.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
