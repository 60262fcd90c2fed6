using System.Runtime.InteropServices;
using Neuro.Abstractions;

namespace Neuro.Silo.Gpu;

/// <summary>Reads this node's GPUs from NVIDIA's management library (libnvidia-ml.so.1, shipped with the driver).
/// On machines without the driver it reports why and returns nothing; the inventory file is used instead.</summary>
public static partial class Nvml
{
    private const string Library = "libnvidia-ml.so.1";
    private const int Success = 0;

    public static IReadOnlyList<GpuDeviceInfo>? TryRead(out string why)
    {
        try
        {
            if (nvmlInit_v2() is var init and not Success)
            {
                why = $"nvmlInit failed with NVML error {init}";
                return null;
            }
            try
            {
                Check(nvmlDeviceGetCount_v2(out var count), "nvmlDeviceGetCount");
                var devices = new List<GpuDeviceInfo>();
                var name = new byte[96];
                for (uint i = 0; i < count; i++)
                {
                    Check(nvmlDeviceGetHandleByIndex_v2(i, out var handle), "nvmlDeviceGetHandleByIndex");
                    Check(nvmlDeviceGetName(handle, name, (uint)name.Length), "nvmlDeviceGetName");
                    Check(nvmlDeviceGetMemoryInfo(handle, out var memory), "nvmlDeviceGetMemoryInfo");
                    var model = System.Text.Encoding.ASCII.GetString(name, 0, Array.IndexOf(name, (byte)0) is var end and >= 0 ? end : name.Length);
                    devices.Add(new GpuDeviceInfo((int)i, model.Replace("NVIDIA ", "").Replace(' ', '-'), (long)(memory.Total / (1024 * 1024))));
                }
                why = $"{devices.Count} GPU(s) from NVML";
                return devices;
            }
            finally
            {
                nvmlShutdown();
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            why = $"{Library} is not available ({e.GetType().Name}): no NVIDIA driver on this node";
            return null;
        }
        catch (InvalidOperationException e)
        {
            why = e.Message;
            return null;
        }
    }

    private static void Check(int result, string call)
    {
        if (result != Success)
        {
            throw new InvalidOperationException($"{call} failed with NVML error {result}");
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct NvmlMemory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    [LibraryImport(Library)]
    private static partial int nvmlInit_v2();

    [LibraryImport(Library)]
    private static partial int nvmlShutdown();

    [LibraryImport(Library)]
    private static partial int nvmlDeviceGetCount_v2(out uint count);

    [LibraryImport(Library)]
    private static partial int nvmlDeviceGetHandleByIndex_v2(uint index, out nint device);

    [LibraryImport(Library)]
    private static partial int nvmlDeviceGetName(nint device, [Out] byte[] name, uint length);

    [LibraryImport(Library)]
    private static partial int nvmlDeviceGetMemoryInfo(nint device, out NvmlMemory memory);
}
