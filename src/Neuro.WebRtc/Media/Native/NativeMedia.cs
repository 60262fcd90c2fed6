using System.Reflection;
using System.Runtime.InteropServices;

namespace Neuro.WebRtc.Media.Native;

/// <summary>
/// Maps the short library names our P/Invokes use ("vpx", "opus") to Debian's runtime sonames. The runtime's default
/// probing would look for libvpx.so / libopus.so, which only the -dev packages install.
/// </summary>
/// <remarks>
/// .NET allows one resolver per assembly. This is it for Neuro.WebRtc: anyone else in the assembly who needs native
/// libraries should add their names to <see cref="Candidates"/> rather than registering a second resolver.
/// </remarks>
internal static class NativeMedia
{
    internal const string Vpx = "vpx";
    internal const string Opus = "opus";

    private static readonly Dictionary<string, string[]> Candidates = new(StringComparer.Ordinal)
    {
        [Vpx] = ["libvpx.so.7", "libvpx.so.8", "libvpx.so.9", "libvpx.so", "libvpx"],
        [Opus] = ["libopus.so.0", "libopus.so", "libopus", "opus"],
    };

    private static int _registered;

    /// <summary>Idempotent; every wrapper calls it before its first P/Invoke.</summary>
    internal static void EnsureResolver()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(NativeMedia).Assembly, Resolve);
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!Candidates.TryGetValue(name, out var files))
        {
            return IntPtr.Zero; // not ours: fall back to the default probing
        }

        foreach (var file in files)
        {
            if (NativeLibrary.TryLoad(file, assembly, searchPath, out var handle))
            {
                return handle;
            }
        }

        return IntPtr.Zero;
    }
}
