using Neuro.Scheduling.Trace;

namespace Neuro.Scheduling.Tests;

public class TraceTests
{
    [Fact]
    public void Reads_both_pod_list_layouts_by_header()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var full = Path.Combine(dir.FullName, "full.csv");
            File.WriteAllText(full, "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n" +
                                    "p0,12000,16384,1,460,V100M16|V100M32,LS,Running,0,1,0\np1,4000,1024,0,0,,BE,Running,0,1,0\n");
            var short5 = Path.Combine(dir.FullName, "short.csv");
            File.WriteAllText(short5, "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,6000,12288,8,1000\n");
            var nodes = Path.Combine(dir.FullName, "nodes.csv");
            File.WriteAllText(nodes, "sn,cpu_milli,memory_mib,gpu,model\nn0,96000,393216,8,G2\nn1,32000,65536,0,\n");

            var a = OpenbTrace.ReadPods(full);
            Assert.Equal(["V100M16", "V100M32"], a[0].GpuTypes!);
            Assert.True(a[0].IsSharing);
            Assert.True(a[1].IsCpuOnly);
            var b = OpenbTrace.ReadPods(short5);
            Assert.Equal((8, 1000, (IReadOnlyList<string>?)null), (b[0].GpuCount, b[0].GpuMilli, b[0].GpuTypes));
            var n = OpenbTrace.ReadNodes(nodes);
            Assert.Equal([8, 0], n.Select(x => x.Gpus.Length));
            Assert.Equal("G2", n[0].GpuModel);
        }
        finally { dir.Delete(true); }
    }
}
