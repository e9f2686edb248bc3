//! Generates bindings to the system DPDK and compiles the C shim.
//!
//! DPDK is found with pkg-config (`libdpdk` >= 22.11). The full
//! `pkg-config --cflags libdpdk` output is handed to both bindgen and the C
//! compiler: it contains `-include rte_config.h` and `-march=...`, which the
//! `pkg-config` crate's parsed include paths would drop, and without which the
//! headers see a different configuration than the installed libraries.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_VERSION: &str = "22.11";
const DEBIAN_PACKAGES: &str = "dpdk dpdk-dev libdpdk-dev libclang-dev clang pkg-config";

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: dpdk-sys: {msg}\n");
    panic!("dpdk-sys: {msg}");
}

/// Raw `pkg-config --cflags libdpdk`, split on whitespace (DPDK's flags carry
/// no quoted spaces).
fn full_cflags() -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| {
            fail(&format!(
                "cannot run pkg-config ({e}); install the Debian packages: {DEBIAN_PACKAGES}"
            ))
        });
    if !out.status.success() {
        fail(&format!(
            "`pkg-config --cflags libdpdk` failed: {}; install the Debian packages: {DEBIAN_PACKAGES}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Link flags (and the version check) through the pkg-config crate.
    let lib = pkg_config::Config::new()
        .atleast_version(MIN_VERSION)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            fail(&format!(
                "the system DPDK (pkg-config package `libdpdk` >= {MIN_VERSION}) was not found: {e}\n\
                 On Debian 12 install: apt-get install {DEBIAN_PACKAGES}  (or run `make deps`)"
            ))
        });
    println!("cargo:version={}", lib.version);

    let cflags = full_cflags();

    // The shim: static-inline fast-path functions made linkable.
    let mut build = cc::Build::new();
    build.file("shim.c").include(".").opt_level(3);
    for f in &cflags {
        build.flag(f);
    }
    // DPDK headers trip a few warnings under -Wextra; they are not ours to fix.
    build.warnings(false);
    build.compile("fibre_dpdk_shim");

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg("-I.")
        .clang_args(&cflags)
        .allowlist_function("rte_.*")
        .allowlist_function("fibre_rte_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("rte_.*")
        // Packed structs that contain an aligned member: rustc refuses them
        // (E0588), so they stay opaque byte blobs.
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        // Inline functions have no symbol; the shim wraps the ones we need.
        .generate_inline_functions(false)
        .use_core()
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(true)
        .derive_default(true)
        // rte_flow.h (pulled in by rte_ethdev.h) has structs bindgen cannot
        // derive Debug for correctly (E0277), so no Debug at all.
        .derive_debug(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    // Functions that use SIMD vector types bindgen cannot express.
    for f in ["rte_lpm_lookupx4", "rte_mov.*", "rte_memcpy.*"] {
        builder = builder.blocklist_function(f);
    }

    let bindings = builder.generate().unwrap_or_else(|e| {
        fail(&format!(
            "bindgen failed on the DPDK headers: {e}\n\
             (bindgen needs libclang: apt-get install libclang-dev clang)"
        ))
    });
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR set by cargo"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");
}
