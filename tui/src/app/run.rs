use crate::cli::BackendKind;
pub async fn run_tui(_b: BackendKind) -> Result<(), String> {
    Ok(())
}
