//! Compiles the long double helper used by INCRBYFLOAT/HINCRBYFLOAT (Redis parity).

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new().file("csrc/longdouble.c").opt_level(2).compile("rsolongdouble");
}
