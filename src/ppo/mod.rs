//! PPO, in the layout of rsl_rl: the algorithm's pieces ([`gae`] advantages, [`loss`] terms,
//! [`grad_clip`] global norm clipping, [`normalizer`] running observation normalisation), the
//! rollout [`storage`], and the [`trainer`] loop that ties them to the envs and networks, with its
//! [`seeding`], checkpointable [`state`] and logged [`stats`].

pub mod gae;
pub mod grad_clip;
pub mod loss;
pub mod normalizer;
pub mod seeding;
pub mod state;
pub mod stats;
pub mod storage;
pub mod trainer;
