//! `maestro crawl`: one crawl now. On a terminal a progress bar shows the steps (tasks
//! times regions) and the running counts; elsewhere (CI logs, pipes) a plain line per
//! step ended, since a bar redrawn in place turns into noise there.

use std::io::IsTerminal;
use std::time::Duration;

use commands::{CommandHandler, EventStore, Vault};
use crawlers::{Crawler, Job, Progress, Reach, Summary};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;

pub async fn run(pool: &PgPool, job: Job, reach: Reach) -> anyhow::Result<Summary> {
    let crawler = Crawler::new(
        CommandHandler::new(EventStore::new(pool.clone())),
        Vault::from_env(pool.clone())?,
        reach,
    );
    let shown = Shown::new();
    let summary = crawler.run(&job, |progress| shown.tell(progress)).await;
    shown.finish();
    Ok(summary?)
}

fn bar() -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
        .expect("the progress template is valid");
    ProgressBar::new(0).with_style(style)
}

/// How progress is shown.
enum Shown {
    Bar(ProgressBar),
    Lines,
}

impl Shown {
    fn new() -> Shown {
        if !std::io::stderr().is_terminal() {
            return Shown::Lines;
        }
        let bar = bar();
        // Ticks on its own, so the clock moves while one long step runs.
        bar.enable_steady_tick(Duration::from_millis(200));
        Shown::Bar(bar)
    }

    fn tell(&self, progress: &Progress) {
        match self {
            Shown::Bar(bar) => {
                bar.set_length(progress.steps as u64);
                bar.set_position(progress.done as u64);
                bar.set_message(format!(
                    "{} in {}: {}",
                    progress.task, progress.region, progress.total
                ));
            }
            Shown::Lines if progress.step.is_some() => eprintln!("crawled {progress}"),
            Shown::Lines => {}
        }
    }

    /// Leaves the bar as it ended, above the summary.
    fn finish(self) {
        if let Shown::Bar(bar) = self {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use crawlers::Counts;
    use indicatif::ProgressDrawTarget;

    use super::*;

    #[test]
    fn the_bar_counts_steps_and_names_the_current_one() {
        let bar = bar();
        bar.set_draw_target(ProgressDrawTarget::hidden());
        let shown = Shown::Bar(bar.clone());
        let total = Counts {
            discovered: 7,
            ..Counts::default()
        };
        shown.tell(&Progress {
            task: "server-list",
            region: "eu-west-1",
            done: 1,
            steps: 4,
            step: None,
            total,
        });
        assert_eq!((bar.position(), bar.length()), (1, Some(4)));
        assert_eq!(
            bar.message(),
            "server-list in eu-west-1: discovered 7 / updated 0 / orphaned 0 / unchanged 0 / errors 0"
        );
        shown.finish();
    }
}
