// Clusters, Redis servers and hosts are heavy on a 2-core machine: run test classes one after another.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
