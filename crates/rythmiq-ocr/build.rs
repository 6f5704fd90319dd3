//! Links the system libtesseract and Leptonica found by pkg-config (installed by `scripts/setup`).
//! The C API is declared by hand in `src/sys.rs`: no bindgen, so no clang in the build.

fn main() {
    for lib in ["tesseract", "lept"] {
        if let Err(err) = pkg_config::Config::new().probe(lib) {
            panic!(
                "pkg-config could not find {lib}: {err}\n\
                 install the system libraries with `bash scripts/setup` (Debian: libtesseract-dev libleptonica-dev)"
            );
        }
    }
}
