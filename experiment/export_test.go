package experiment

// RunSetup lets the external tests run a built experiment.
var RunSetup = runSetup
