//! `lori-tokio`: the tokio driver for `lori-core`. Not implemented yet; see the project README.
