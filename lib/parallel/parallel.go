// Package parallel trains one model on several devices of one backend, data
// parallel: every device holds the whole model, each takes an equal slice of
// the global batch, and XLA adds the gradients up across devices (an
// all-reduce) before the one optimiser update every device applies. The
// result is the training a single device would do on the global batch, up to
// float32 summation order.
//
// Nothing here computes: it is GoMLX's own machinery set up for the common
// case. dataset.NewDistributedAccumulator gathers one batch per device from a
// source dataset into a batch sharded along a one-axis device mesh
// ("batch"); train.Loop sees a distributed dataset and switches the Trainer
// to distributed steps; with the AutoSharding strategy XLA's partitioner
// places the variables on every device and inserts the all-reduce.
//
// Devices come from the backend: "xla:cpu,devices=4" (see lib/backends)
// gives 4 virtual CPU devices, which run the same program as 4 GPUs would
// and are how the tests check it; they share the machine's cores, so they
// show correctness, not speed. On one device (the go backend, or a plain
// xla:cpu) DataParallel hands the dataset back unchanged, so a notebook
// reads the same on 1 and N devices.
//
// What holds, measured on xla:cpu with 4 devices (TestTrainerDataParallel):
// an MLP trained with Adam for 20 steps follows the single-device loss curve
// to ~1e-7 relative. Limits (GoMLX v0.28.8): gradient accumulation is not
// supported in distributed steps; randomness inside the training step
// (dropout) draws different numbers per device; every input and label needs
// the batch as its first axis.
package parallel

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
)

// BatchAxis names the device mesh axis the batch is split along.
const BatchAxis = "batch"

// ShardBatchSize is the batch each device takes for a global batch on
// backend's devices: global / NumDevices. It is an error when the global
// batch does not split evenly, since the devices' batches must have the same
// shape.
func ShardBatchSize(backend compute.Backend, global int) (int, error) {
	n := backend.NumDevices()
	if global < n || global%n != 0 {
		return 0, fmt.Errorf("parallel: global batch %d does not split evenly over %d devices", global, n)
	}
	return global / n, nil
}

// DataParallel returns the dataset to give train.Loop so that training runs
// on all of backend's devices. shards yields one device's batch at a time
// (see ShardBatchSize); N consecutive batches form one global batch, in
// order, so a source that yields examples in the same order as a
// single-device run at the global batch size trains on the same batches —
// as long as each epoch is a whole number of global batches (otherwise the
// two drop different incomplete batches at the epoch's end).
//
// store is the model's store: variables it already holds (the random number
// state SetRNGStateFromSeed creates, or values loaded from a checkpoint) are
// replicated on every device, as variables created later are. Without this,
// GoMLX v0.28.8 panics with a nil pointer while building the first
// distributed graph (ml/model/variable.go:590: a variable made before
// distribution has no sharding spec, and the random number state is created
// without its store).
//
// On a single device DataParallel returns shards itself.
func DataParallel(backend compute.Backend, store *model.Store, shards train.Dataset) (train.Dataset, error) {
	n := backend.NumDevices()
	if n == 1 {
		return shards, nil
	}
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{BatchAxis})
	if err != nil {
		return nil, fmt.Errorf("parallel: device mesh of %d devices: %w", n, err)
	}
	replicated := distributed.NewReplicatedShardingSpec(mesh)
	for v := range store.IterVariables() {
		if v.ShardingSpec() == nil {
			if err := v.SetShardingSpec(replicated); err != nil {
				return nil, fmt.Errorf("parallel: replicating variable %s: %w", v.Path(), err)
			}
		}
	}
	byBatch, err := distributed.BuildSpec(mesh).S(BatchAxis).Done()
	if err != nil {
		return nil, fmt.Errorf("parallel: sharding spec: %w", err)
	}
	specs := []*distributed.ShardingSpec{byBatch}
	ds, err := dataset.NewDistributedAccumulator(backend, shards, distributed.AutoSharding, specs, specs, nil)
	if err != nil {
		return nil, fmt.Errorf("parallel: %w", err)
	}
	return ds, nil
}
