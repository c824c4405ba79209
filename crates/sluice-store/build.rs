// `sqlx::migrate!` embeds migrations/ at compile time, but a proc macro cannot ask cargo to watch
// a directory: without this a new migration file would not trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
