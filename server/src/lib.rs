//! strata-server: the `stratad` daemon.
