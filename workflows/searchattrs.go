package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes set on assimilation runs, so the Temporal UI and
// `latentda runs list` can filter and show them. They must be registered on
// the namespace (the embedded dev server does it; see deploy/ for a cluster).
var (
	AttrCycle  = temporal.NewSearchAttributeKeyInt64("LatentdaCycle")
	AttrRMSEa  = temporal.NewSearchAttributeKeyFloat64("LatentdaRmseA")
	AttrModel  = temporal.NewSearchAttributeKeyKeyword("LatentdaModel")
	AttrStatus = temporal.NewSearchAttributeKeyKeyword("LatentdaStatus")
	// AttrFlagged counts the observations quality control flagged so far.
	AttrFlagged = temporal.NewSearchAttributeKeyInt64("LatentdaFlagged")
)

// SearchAttributes lists the attributes with their index types, for
// registration.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		AttrCycle.GetName():   enumspb.INDEXED_VALUE_TYPE_INT,
		AttrRMSEa.GetName():   enumspb.INDEXED_VALUE_TYPE_DOUBLE,
		AttrModel.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrStatus.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrFlagged.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
	}
}
