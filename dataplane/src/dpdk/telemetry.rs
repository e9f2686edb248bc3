//! DPDK telemetry commands of the application's own (`rte_telemetry_register_cmd`):
//! `dpdk-telemetry.py` and DPDK's telemetry exporters list and call them beside
//! `/ethdev/stats`, over the EAL's `dpdk_telemetry.v2` socket.
//!
//! A command is a Rust function that fills a [`TelData`]. DPDK calls a C callback
//! without a user pointer but with the command's name, so one trampoline serves
//! every command, looking its function up by name. DPDK runs callbacks on its
//! telemetry thread, one at a time per connection: a handler must be `Send +
//! Sync` and must not touch a forwarding core.

use super::{strerror, DpdkError, Result};
use dpdk_sys as sys;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::sync::{Mutex, OnceLock};

// errno values (Linux) the callback returns; dataplane has no libc dependency.
const EINVAL: c_int = 22;
const ENOENT: c_int = 2;
const EIO: c_int = 5;

/// What a command answers: fills `out`, or says why it could not.
pub type Handler = Box<dyn Fn(&str, &mut TelData) -> std::result::Result<(), String> + Send + Sync>;

/// The registered commands, by name.
fn handlers() -> &'static Mutex<Vec<(String, &'static Handler)>> {
    static H: OnceLock<Mutex<Vec<(String, &'static Handler)>>> = OnceLock::new();
    H.get_or_init(Default::default)
}

/// Registers `cmd` (it must start with `/`; DPDK keeps at most 64 characters of
/// it) with its help text. Commands live as long as the process (DPDK has no way
/// to unregister one); registering a name again replaces its handler.
pub fn register(cmd: &str, help: &str, handler: Handler) -> Result<()> {
    let c_cmd = CString::new(cmd).map_err(|_| telemetry_error(cmd, EINVAL))?;
    let c_help = CString::new(help).map_err(|_| telemetry_error(cmd, EINVAL))?;
    let handler: &'static Handler = Box::leak(Box::new(handler));
    {
        let mut h = handlers().lock().unwrap_or_else(|e| e.into_inner());
        h.retain(|(name, _)| name != cmd);
        h.push((cmd.to_string(), handler));
    }
    // SAFETY: both strings are NUL-terminated and DPDK copies them; `trampoline`
    // has the `telemetry_cb` signature and lives as long as the process.
    let rc = unsafe {
        sys::rte_telemetry_register_cmd(c_cmd.as_ptr(), Some(trampoline), c_help.as_ptr())
    };
    if rc != 0 {
        return Err(telemetry_error(cmd, rc));
    }
    Ok(())
}

fn telemetry_error(cmd: &str, rc: c_int) -> DpdkError {
    DpdkError::Telemetry {
        cmd: cmd.to_string(),
        errno: rc.abs(),
        msg: strerror(rc),
    }
}

/// DPDK's callback for every command registered here.
unsafe extern "C" fn trampoline(
    cmd: *const c_char,
    params: *const c_char,
    info: *mut sys::rte_tel_data,
) -> c_int {
    if cmd.is_null() || info.is_null() {
        return -EINVAL;
    }
    // SAFETY: DPDK passes the NUL-terminated command it matched, valid for the call.
    let cmd = unsafe { CStr::from_ptr(cmd) }
        .to_string_lossy()
        .into_owned();
    let params = if params.is_null() {
        String::new()
    } else {
        // SAFETY: DPDK passes NUL-terminated parameters (or NULL), valid for the call.
        unsafe { CStr::from_ptr(params) }
            .to_string_lossy()
            .into_owned()
    };
    let handler = {
        let h = handlers().lock().unwrap_or_else(|e| e.into_inner());
        h.iter().find(|(name, _)| *name == cmd).map(|(_, f)| *f)
    };
    let Some(handler) = handler else {
        return -ENOENT;
    };
    let mut out = TelData { d: info };
    // A panic must not unwind into C.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&params, &mut out))) {
        Ok(Ok(())) => 0,
        Ok(Err(why)) => {
            // DPDK answers a failed callback with `null`; the reason goes in a dict
            // so whoever asked sees it.
            out.start_dict();
            out.add_str("error", &why);
            0
        }
        Err(_) => -EIO,
    }
}

/// A telemetry answer being built: a dict of numbers, strings and nested dicts.
/// Keys and strings longer than DPDK's 63 characters are cut by DPDK; one dict
/// holds at most 256 entries (later ones are dropped by DPDK, which says so).
pub struct TelData {
    d: *mut sys::rte_tel_data,
}

impl TelData {
    /// Makes this answer an (empty) dict.
    pub fn start_dict(&mut self) {
        // SAFETY: `d` is the valid rte_tel_data DPDK gave the callback (or one from
        // rte_tel_data_alloc, see `add_dict`).
        unsafe { sys::rte_tel_data_start_dict(self.d) };
    }

    pub fn add_u64(&mut self, name: &str, v: u64) {
        if let Ok(n) = CString::new(name) {
            // SAFETY: `d` is valid (see start_dict); DPDK copies the name.
            unsafe { sys::rte_tel_data_add_dict_u64(self.d, n.as_ptr(), v) };
        }
    }

    pub fn add_str(&mut self, name: &str, v: &str) {
        if let (Ok(n), Ok(v)) = (CString::new(name), CString::new(v)) {
            // SAFETY: `d` is valid (see start_dict); DPDK copies both strings.
            unsafe { sys::rte_tel_data_add_dict_string(self.d, n.as_ptr(), v.as_ptr()) };
        }
    }

    /// A nested dict under `name`, filled by `fill` (one level deep: DPDK does not
    /// nest a container in a nested container).
    pub fn add_dict(&mut self, name: &str, fill: impl FnOnce(&mut TelData)) {
        let Ok(n) = CString::new(name) else {
            return;
        };
        // SAFETY: rte_tel_data_alloc returns a fresh object or NULL.
        let inner = unsafe { sys::rte_tel_data_alloc() };
        if inner.is_null() {
            return;
        }
        let mut t = TelData { d: inner };
        t.start_dict();
        fill(&mut t);
        // SAFETY: `d` and `inner` are valid; with keep = 0 DPDK takes `inner` and
        // frees it with the answer (or at once if it refuses it).
        unsafe { sys::rte_tel_data_add_dict_container(self.d, n.as_ptr(), inner, 0) };
    }
}
