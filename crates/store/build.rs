//! Rebuilds the crate when a migration changes: `embed_migrations!` alone does
//! not notice SQL-only edits.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
