//! toss's parts, one module per concern. `main.rs` strings them together into a run; the
//! library exists so the fuzz targets (and anyone reading) can reach the pure functions.

pub mod credentials;
pub mod donefile;
pub mod key;
pub mod log;
pub mod object;
pub mod retry;
pub mod s3;
pub mod settings;
pub mod signal;
pub mod upload;
