pub fn run_and_print(_interfaces: usize, _frames: usize) {}
