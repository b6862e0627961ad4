// Before the first data-parallel step: every rank must hold the same settings, weights, optimizer
// state and training position (fresh from the same seed, or resumed from the same checkpoint), or
// averaging their gradients would train nothing sensible. Compared through the rendezvous store;
// a difference fails every rank with a message naming the rank and what differs.
#pragma once

#include "backend/backend.h"
#include "core/config.h"
#include "dist/rendezvous.h"
#include "model/language_model.h"
#include "train/optimizer.h"
#include "train/train_checkpoint.h"

namespace dg {

// Settings that may differ between ranks: where each machine keeps the data, and its thread count.
bool setting_may_differ_between_ranks(const std::string& key);

void check_replicas_identical(dist::Rendezvous& rendezvous, const Config& config, LanguageModel& model,
                              Backend& backend, const Optimizer& optimizer, const TrainState& state);

}  // namespace dg
