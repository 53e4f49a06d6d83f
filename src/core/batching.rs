//! Work in batches that halve when the device runs out of memory, shared by the stages that
//! batch (diffusion frames, tracker pairs) so that recovery behaves the same in both.

/// Runs `run` over `items` in consecutive batches of `*batch` (at least 1). When a batch of
/// more than one item fails and `out_of_memory` says the error is the device running out
/// (it may also let the device release the failed batch), the same items are retried at
/// half that batch's size, and `*batch` keeps the smaller size for the rest. Any other error,
/// or a single item that does not fit, is returned. Returns the number of retries.
pub fn in_halving_batches<T, E>(
    items: &[T],
    batch: &mut usize,
    mut run: impl FnMut(&[T]) -> Result<(), E>,
    mut out_of_memory: impl FnMut(&E) -> bool,
) -> Result<usize, E> {
    let mut start = 0;
    let mut retries = 0;
    while start < items.len() {
        let chunk = &items[start..(start + (*batch).max(1)).min(items.len())];
        match run(chunk) {
            Ok(()) => start += chunk.len(),
            Err(e) if chunk.len() > 1 && out_of_memory(&e) => {
                *batch = chunk.len().div_ceil(2);
                retries += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(retries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs 10 items at batch 8 on a "device" that fits `fits` items; returns the batches
    /// that ran, the final size and the retries.
    fn simulate(fits: usize) -> (Vec<Vec<u32>>, usize, Result<usize, String>) {
        let items: Vec<u32> = (0..10).collect();
        let mut batch = 8;
        let mut ran = Vec::new();
        let result = in_halving_batches(
            &items,
            &mut batch,
            |chunk| {
                if chunk.len() > fits {
                    return Err("OUT_OF_MEMORY".to_string());
                }
                ran.push(chunk.to_vec());
                Ok(())
            },
            |e| e.contains("OUT_OF_MEMORY"),
        );
        (ran, batch, result)
    }

    #[test]
    fn a_batch_that_does_not_fit_is_halved_and_every_item_runs_once_in_order() {
        let (ran, batch, retries) = simulate(3);
        assert_eq!(retries, Ok(2));
        assert_eq!(batch, 2);
        assert_eq!(ran.concat(), (0..10).collect::<Vec<_>>());
        assert!(ran.iter().all(|b| b.len() <= 2));
        let (ran, batch, retries) = simulate(8);
        assert_eq!((ran.len(), batch, retries), (2, 8, Ok(0)));
    }

    #[test]
    fn one_item_that_does_not_fit_and_other_errors_are_returned() {
        let (_, _, result) = simulate(0);
        assert_eq!(result, Err("OUT_OF_MEMORY".to_string()));
        let mut batch = 4;
        let result = in_halving_batches(&[1, 2, 3], &mut batch, |_| Err("shape"), |_| false);
        assert_eq!((result, batch), (Err("shape"), 4));
    }
}
