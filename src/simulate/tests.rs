//! Tests of the whole stream: order, determinism, validity, noise and the behaviour mix.
