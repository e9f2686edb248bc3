//! The dpdk-sys bindings of DPDK's own route tables, `rte_lpm` and `rte_fib`
//! (DIR-24-8), work end to end: create, add, bulk lookup (`rte_lpm`'s bulk
//! lookup is static inline, reached through the C shim), delete. The lookup
//! benchmarks compare fibre's table against these.
#![cfg(feature = "dpdk")]

mod dpdk_util;

use dataplane::dpdk::Eal;
use dpdk_sys as sys;

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

#[test]
fn rte_lpm_and_rte_fib_lookups() {
    // Tables need EAL memory but no ports.
    let _eal = Eal::init(&dpdk_util::eal_args("lpmfib", &[])).expect("EAL starts without ports");
    let ips = [
        ip(10, 1, 2, 3),
        ip(10, 9, 9, 9),
        ip(192, 168, 0, 1),
        ip(10, 1, 200, 1),
    ];

    // rte_lpm: 10/8 -> 1, 10.1/16 -> 2, 10.1.200/24 -> 3.
    let name = c"fibre_test_lpm";
    let cfg = sys::rte_lpm_config {
        max_rules: 1024,
        number_tbl8s: 256,
        flags: 0,
    };
    // SAFETY: EAL is up; valid name and config; the table is freed below.
    let lpm = unsafe { sys::rte_lpm_create(name.as_ptr(), -1, &cfg) };
    assert!(!lpm.is_null(), "rte_lpm_create failed");
    // SAFETY: lpm is a valid table (for all calls in this block).
    unsafe {
        assert_eq!(sys::rte_lpm_add(lpm, ip(10, 0, 0, 0), 8, 1), 0);
        assert_eq!(sys::rte_lpm_add(lpm, ip(10, 1, 0, 0), 16, 2), 0);
        assert_eq!(sys::rte_lpm_add(lpm, ip(10, 1, 200, 0), 24, 3), 0);
        let mut nh = [0u32; 4];
        assert_eq!(
            sys::fibre_rte_lpm_lookup_bulk(lpm, ips.as_ptr(), nh.as_mut_ptr(), 4),
            0
        );
        // Bulk results carry RTE_LPM_LOOKUP_SUCCESS (0x01000000) when found
        // and the next hop in the low 24 bits.
        let found = |v: u32| (v & 0x0100_0000 != 0).then_some(v & 0x00ff_ffff);
        assert_eq!(nh.map(found), [Some(2), Some(1), None, Some(3)]);
        let mut one = 0u32;
        assert_eq!(sys::fibre_rte_lpm_lookup(lpm, ips[0], &mut one), 0);
        assert_eq!(one, 2);
        assert_eq!(sys::rte_lpm_delete(lpm, ip(10, 1, 0, 0), 16), 0);
        assert_eq!(sys::fibre_rte_lpm_lookup(lpm, ips[0], &mut one), 0);
        assert_eq!(one, 1, "after deleting 10.1/16, 10/8 covers");
        sys::rte_lpm_free(lpm);
    }

    // rte_fib, DIR-24-8 with 4-byte next hops, default next hop 0.
    let mut conf = sys::rte_fib_conf {
        type_: sys::RTE_FIB_DIR24_8,
        default_nh: 0,
        max_routes: 1024,
        ..Default::default()
    };
    conf.__bindgen_anon_1.dir24_8 = sys::rte_fib_conf__bindgen_ty_1__bindgen_ty_1 {
        nh_sz: sys::RTE_FIB_DIR24_8_4B,
        num_tbl8: 256,
    };
    let name = c"fibre_test_fib";
    // SAFETY: EAL is up; valid name and config; freed below.
    let fib = unsafe { sys::rte_fib_create(name.as_ptr(), -1, &mut conf) };
    assert!(!fib.is_null(), "rte_fib_create failed");
    // SAFETY: fib is a valid table (for all calls in this block).
    unsafe {
        assert_eq!(sys::rte_fib_add(fib, ip(10, 0, 0, 0), 8, 1), 0);
        assert_eq!(sys::rte_fib_add(fib, ip(10, 1, 0, 0), 16, 2), 0);
        assert_eq!(sys::rte_fib_add(fib, ip(10, 1, 200, 0), 24, 3), 0);
        let mut q = ips;
        let mut nh = [u64::MAX; 4];
        assert_eq!(
            sys::rte_fib_lookup_bulk(fib, q.as_mut_ptr(), nh.as_mut_ptr(), 4),
            0
        );
        assert_eq!(nh, [2, 1, 0, 3]);
        assert_eq!(sys::rte_fib_delete(fib, ip(10, 1, 200, 0), 24), 0);
        assert_eq!(
            sys::rte_fib_lookup_bulk(fib, q.as_mut_ptr(), nh.as_mut_ptr(), 4),
            0
        );
        assert_eq!(nh[3], 2, "after deleting the /24, 10.1/16 covers");
        sys::rte_fib_free(fib);
    }
}
