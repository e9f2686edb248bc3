//! fibre's control plane.
