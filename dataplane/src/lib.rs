//! fibre's dataplane: packets, ports and forwarding cores.
