//! PPO, in the layout of rsl_rl: the algorithm's pieces ([`gae`] advantages, [`loss`] terms,
//! [`grad_clip`] global norm clipping, [`normalizer`] running observation normalisation,
//! [`reward_norm`] return-scale reward normalisation, [`shards`] data-parallel minibatches), the
//! rollout [`storage`], the [`exploration`] noise, the [`curriculum`] level, and the [`trainer`] loop that ties them to the envs and networks, with its
//! [`seeding`], checkpointable [`state`] and logged [`stats`].

pub mod curriculum;
pub mod exploration;
pub mod gae;
pub mod grad_clip;
pub mod loss;
pub mod normalizer;
pub mod reward_norm;
pub mod seeding;
pub mod shards;
pub mod state;
pub mod stats;
pub mod storage;
pub mod trainer;
