using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Neuro.Inference.Runtime;

public enum ExecutionProviderKind { Cpu, Cuda, TensorRt }

/// <summary>How ONNX Runtime sessions are built. Binds from configuration (e.g. <c>Neuro:Inference</c>).</summary>
public sealed class InferenceOptions
{
    /// <summary><c>cpu</c> (default), <c>cuda</c> or <c>tensorrt</c>. GPU providers are appended only when the native build has them; otherwise a warning is logged and CPU is used.</summary>
    public ExecutionProviderKind ExecutionProvider { get; set; } = ExecutionProviderKind.Cpu;
    public int DeviceId { get; set; }
    /// <summary>Threads inside one operator (0 = ORT default: one per physical core).</summary>
    public int IntraOpThreads { get; set; }
    /// <summary>Threads across independent operators (only used with parallel execution).</summary>
    public int InterOpThreads { get; set; } = 1;
    public GraphOptimizationLevel OptimizationLevel { get; set; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
    /// <summary>Run a short prefill + decode step after load so the first real request does not pay for kernel/arena set-up.</summary>
    public bool WarmUp { get; set; } = true;
    /// <summary>Let ORT's intra-op threads spin between parallel sections (its default). Spinning wins when ORT has the
    /// cores to itself; in a silo that also runs the front door and Orleans on few cores, it takes their time.</summary>
    public bool AllowSpinning { get; set; } = true;
    /// <summary>Context length when the model's metadata has no <c>max_position_embeddings</c>.</summary>
    public int DefaultMaxContext { get; set; } = 2048;
}

/// <summary>Builds <see cref="SessionOptions"/> and sessions, with execution-provider fallback.</summary>
public static class OrtSessionFactory
{
    /// <summary>The providers the loaded native ORT library was built with (e.g. CPUExecutionProvider; CUDAExecutionProvider in the GPU package).</summary>
    public static IReadOnlyList<string> AvailableProviders() => OrtEnv.Instance().GetAvailableProviders();

    public static SessionOptions CreateSessionOptions(InferenceOptions options, ILogger? logger, out ExecutionProviderKind used)
    {
        logger ??= NullLogger.Instance;
        var so = new SessionOptions
        {
            GraphOptimizationLevel = options.OptimizationLevel,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = options.InterOpThreads,
        };
        if (!options.AllowSpinning)
        {
            so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        }
        used = ExecutionProviderKind.Cpu;
        if (options.ExecutionProvider == ExecutionProviderKind.Cpu) return so;

        var wanted = options.ExecutionProvider == ExecutionProviderKind.Cuda ? "CUDAExecutionProvider" : "TensorrtExecutionProvider";
        var available = AvailableProviders();
        if (!available.Contains(wanted))
        {
            logger.LogWarning("Execution provider {Provider} requested but this ONNX Runtime build has only [{Available}]; falling back to CPU",
                wanted, string.Join(", ", available));
            return so;
        }
        try
        {
            if (options.ExecutionProvider == ExecutionProviderKind.TensorRt)
            {
                so.AppendExecutionProvider_Tensorrt(options.DeviceId);
                used = ExecutionProviderKind.TensorRt;
            }
            so.AppendExecutionProvider_CUDA(options.DeviceId); // TensorRT falls back to CUDA for unsupported nodes
            if (used == ExecutionProviderKind.Cpu) used = ExecutionProviderKind.Cuda;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            logger.LogWarning(ex, "Execution provider {Provider} could not be initialised (device {Device}); falling back to CPU", wanted, options.DeviceId);
            so.Dispose();
            used = ExecutionProviderKind.Cpu;
            return CreateSessionOptions(new InferenceOptions
            {
                ExecutionProvider = ExecutionProviderKind.Cpu, IntraOpThreads = options.IntraOpThreads, InterOpThreads = options.InterOpThreads,
                OptimizationLevel = options.OptimizationLevel, AllowSpinning = options.AllowSpinning,
            }, logger, out _);
        }
        return so;
    }
}
