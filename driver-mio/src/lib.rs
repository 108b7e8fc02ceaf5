//! `lori-mio`: the mio driver for `lori-core`. Not implemented yet; see the project README.
