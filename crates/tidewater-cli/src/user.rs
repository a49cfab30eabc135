//! `tidewater user`: AccessKey users and their per-project grants, stored in the warehouse
//! (servers on it pick changes up within seconds).
//!
//! ```text
//! tidewater user add alice                      prints alice's AccessKey id and secret (once)
//! tidewater user grant alice sales write        read | write | admin on a project, or '*'
//! tidewater user revoke alice sales
//! tidewater user list
//! ```

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tidewater_engine::Warehouse;
use tidewater_server::auth::{Role, Users};

#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    /// The warehouse: a directory, or a URL (file://, memory://, s3://).
    #[arg(long, env = "TIDEWATER_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,

    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a user and print its new AccessKey id and secret.
    Add {
        name: String,
        /// Root may do everything, including creating projects.
        #[arg(long)]
        root: bool,
    },
    /// Grant a role (read, write, admin) on a project ('*' = every project).
    Grant {
        name: String,
        project: String,
        role: String,
    },
    /// Remove a user's grant on a project.
    Revoke { name: String, project: String },
    /// List users, their AccessKey ids and grants (never secrets).
    List,
}

pub fn run_blocking(args: UserArgs) -> ExitCode {
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidewater user: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: UserArgs) -> Result<(), String> {
    let warehouse = Warehouse::open(&args.warehouse)
        .await
        .map_err(|e| e.to_string())?;
    let storage = warehouse.storage();
    let mut users = Users::load(storage).await?;
    match args.command {
        UserCommand::Add { name, root } => {
            let user = users.add(&name, root)?.clone();
            users.save(storage).await?;
            println!("added user {name}; its credentials (the secret is shown only now):");
            println!("  export TIDEWATER_ACCESS_ID={}", user.access_id);
            println!("  export TIDEWATER_ACCESS_KEY={}", user.access_key);
        }
        UserCommand::Grant {
            name,
            project,
            role,
        } => {
            let role: Role = role.parse()?;
            users.grant(&name, &project, role)?;
            users.save(storage).await?;
            println!("granted {role} on {project} to {name}");
        }
        UserCommand::Revoke { name, project } => {
            if users.revoke(&name, &project)? {
                users.save(storage).await?;
                println!("revoked {name}'s grant on {project}");
            } else {
                println!("{name} had no grant on {project}");
            }
        }
        UserCommand::List => {
            for u in &users.users {
                let grants: Vec<String> =
                    u.grants.iter().map(|(p, r)| format!("{p}:{r}")).collect();
                println!(
                    "{}\t{}\t{}{}",
                    u.name,
                    u.access_id,
                    if u.root { "root " } else { "" },
                    grants.join(",")
                );
            }
        }
    }
    Ok(())
}
