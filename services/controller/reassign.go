package controller

import metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"

// advanceReassignment moves a running reassignment one step forward.
// (Placeholder until reassignment lands: nothing to do.)
func (c *Controller) advanceReassignment(rec *metadatav1.PartitionRecord, _ *clusterView) (*metadatav1.PartitionRecord, string) {
	return rec, ""
}
