//! A vdev that fails to probe is an error (not an empty router), and a
//! second EAL init in the process is an error (not undefined behaviour).
#![cfg(feature = "dpdk")]

mod dpdk_util;

use dataplane::dpdk::{DpdkError, Eal};

#[test]
fn failed_probe_and_second_init_are_errors() {
    // net_ring with an invalid action argument fails to probe.
    let args = dpdk_util::eal_args(
        "probe",
        &[
            "--vdev=net_ring0",
            "--vdev=net_ring1,nodeaction=bogus:0:NOPE",
        ],
    );
    let err = Eal::init(&args).expect_err("probe failure must be an error");
    match &err {
        DpdkError::DeviceNotProbed { devices } => assert!(devices.contains("net_ring1"), "{err}"),
        other => panic!("unexpected error: {other}"),
    }
    let again = Eal::init(&dpdk_util::eal_args("probe2", &[])).expect_err("second init");
    assert!(matches!(again, DpdkError::EalAlreadyInitialised), "{again}");
    assert!(again.to_string().contains("once per process"));
}
