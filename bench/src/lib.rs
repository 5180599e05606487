//! The load harness for the media forwarder. Not built yet.
