using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Neuro.Inference.Onnx;

/// <summary>Small helper for writing ONNX graphs with the hand-written proto subset (IR 8, default-domain opset 17).</summary>
public sealed class OnnxGraphBuilder
{
    private readonly GraphProto _graph = new() { Name = "graph" };
    private int _counter;

    public GraphProto Graph => _graph;

    public string Node(string op, IEnumerable<string> inputs, string? output = null, params AttributeProto[] attributes)
    {
        var name = output ?? $"{op.ToLowerInvariant()}_{_counter++}";
        var node = new NodeProto { OpType = op, Name = $"n_{name}" };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return name;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, I = value, Type = AttributeProto.Types.AttributeType.Int };
    public static AttributeProto Float(string name, float value) => new() { Name = name, F = value, Type = AttributeProto.Types.AttributeType.Float };
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public string FloatInit(string name, long[] dims, ReadOnlySpan<float> data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data)) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return name;
    }

    public string Int8Init(string name, long[] dims, ReadOnlySpan<sbyte> data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data)) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A node with several outputs; returns their names.</summary>
    public string[] NodeMulti(string op, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var baseName = $"{op.ToLowerInvariant()}_{_counter++}";
        var names = Enumerable.Range(0, outputs).Select(i => $"{baseName}_out{i}").ToArray();
        var node = new NodeProto { OpType = op, Name = $"n_{baseName}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    public string Int64Init(string name, long[] dims, params long[] data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(data);
        _graph.Initializer.Add(t);
        return name;
    }

    public void Input(string name, TensorProto.Types.DataType type, params object[] dims) => _graph.Input.Add(ValueInfo(name, type, dims));
    public void Output(string name, TensorProto.Types.DataType type, params object[] dims) => _graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>dims: a long/int is a fixed size, a string is a symbolic dimension.</summary>
    public static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                _ => throw new ArgumentException($"bad dim {d}"),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    public ModelProto ToModel(IReadOnlyDictionary<string, string>? metadata = null, string doc = "")
    {
        var m = new ModelProto { IrVersion = 8, ProducerName = "Neuro.Inference", ProducerVersion = "1", Graph = _graph, DocString = doc };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        if (metadata is not null)
            foreach (var (k, v) in metadata) m.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return m;
    }
}
