//! `cargo bench -p nsplumb --bench frame`: renders 1,000 interfaces into a `TestBackend` and
//! prints the median and p99 frame time (budget: 5 ms).

fn main() {
    nsplumb_tui::app::bench::run_and_print(1000, 400);
}
